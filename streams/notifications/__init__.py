"""The notifications agent: causes routed to the manager in charge (the org chart), kept as
notification rows, and delivered by webhook or e-mail (delivery)."""
