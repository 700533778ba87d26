"""Media: codecs, the RTP relay that anchors calls, tones."""
