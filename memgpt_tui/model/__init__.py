"""Shared types at the bottom of the layers: messages, agent state, ids and clock, events, store records
and the errors every layer may raise or show. Depends on pydantic only."""
