"""The specialist agents, one module each. Nodes stay thin: they read the state and context, call
tools/, and return a small update. Progress goes out as custom stream events (see agents.progress)."""
