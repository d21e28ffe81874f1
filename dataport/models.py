"""Records of imports and exports (dataport/): the models are added by the features that
need them."""
