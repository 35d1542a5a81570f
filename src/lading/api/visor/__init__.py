"""The VISoR face (headers for metadata, JSON or XML answers), for VISoR's clients."""
