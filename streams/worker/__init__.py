"""The live worker: the Faust app, its agent, table, web pages, metrics and entry point.

A thin shell: the agent decodes, calls ``streams.processing.process`` (the engine), writes the table
and sends the outputs. Nothing here decides anything about credit.
"""
