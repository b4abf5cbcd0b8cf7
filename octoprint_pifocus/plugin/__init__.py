"""The OctoPrint layer: mixins, hooks, API and UI wiring around the engine. Keep it thin."""
