"""The models every kind trains and serves: the classifier, the tagger, warm starts and interpolation, embeddings, metrics, one predict entry point."""
