"""A simulated machine vendor for the demo and the tests (docs/vendor-contract.md).

`flask --app wsgi simulate` serves data URLs and webhook subscriptions for every machine
with a vendor id and pushes signed readings to the subscribers. Modules: `signals` (the
signal model, pure and seeded), `subscriptions` (kept in a JSON file), `server` (the
vendor's HTTP app, the pusher, the machine refresher), `machines` (reads Floorline's
database), `cli` (the command).
"""
