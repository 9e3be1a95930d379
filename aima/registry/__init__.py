"""Registry facts: what an image reference says about itself, read through the Registry HTTP API v2.

``reference`` parses image references the way Docker does, ``client`` speaks the API (bearer tokens,
Docker config credentials, plain HTTP on loopback), ``facts`` turns manifests and configs into
``ImageFacts`` without pulling a layer.
"""
