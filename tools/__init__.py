"""The real work of pioneer-agent, as plain typed functions.

Nothing here knows about LangGraph: agents/ call these functions, tests call them directly.
Heavy imports (torch, transformers, chromadb) stay inside the functions that need them.
"""
