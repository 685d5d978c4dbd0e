"""A local Kalshi-compatible exchange: matching engine, tape replay, fault injection, server.

``milkbot exchange`` serves it on localhost; the demo and the client tests trade against it.
"""
