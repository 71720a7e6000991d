"""Figure sources: each yields ``FigureItem``s for the figure pipeline."""
