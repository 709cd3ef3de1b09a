"""Reading and writing files: OSM extracts, coordinates (GCJ-02/BD-09), output folders."""
