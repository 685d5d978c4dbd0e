"""The pure domain model: stations, brackets, fees and money. No I/O is imported here."""
