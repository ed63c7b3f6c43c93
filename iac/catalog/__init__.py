"""Static data about hardware: accelerator types and their names on each platform."""
