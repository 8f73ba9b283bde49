"""The synthetic demo data set: real division names and codes, realistic shapes, written in
the exchange format and imported through the same path as real files. Not part of the data
layer (queries/), which never imports it."""
