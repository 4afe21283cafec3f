"""Face models: decode identity, expression and age latents to vertices, and fit them to video.

One interface (`base.FaceModel`) over INFACE's published HDF5 layouts (`hdf5`: PCA and
autoencoder) and the open default, a landmark-space PCA model that Cradle builds from its own
tracks in the PCA layout (`open_model`); `fit` fits them to landmark sequences with the
hyper-parameters of `fit_config`. Import the module you need: this package imports nothing, so
reading the configuration never loads torch.
"""
