"""Agents in and out: MemGPT CLI homes, Letta Agent Files and Markdown transcripts."""
