"""Shared pieces of matsearch: settings, errors, payload/API schemas, filters, content ids and image handling."""
