"""UK grid carbon intensity: the Carbon Intensity API's client, its cache, and regions."""
