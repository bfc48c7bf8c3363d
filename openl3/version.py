"""Version of the openl3 package."""

version = "0.5.0.dev0"
