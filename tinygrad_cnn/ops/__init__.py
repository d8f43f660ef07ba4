"""The ops, one module per family; each op class holds its forward and backward."""
