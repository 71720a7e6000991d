"""Plot digitiser: graph panels → axes calibration and series in data units (``matsearch plot digitize``)."""
