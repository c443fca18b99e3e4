"""The dashboard's pages: each module has NAME, PATH, TITLE and panels(reader, filters)."""
