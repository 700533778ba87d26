"""Phone numbers: normalisation, classifiers, the platform-wide number registry and its features."""
