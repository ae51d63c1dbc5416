"""A FIWARE sandbox: our own implementation of the parts of the STH-Comet, Orion (NGSI v2), IoT Agent,
QuantumLeap and Cygnus HTTP contracts Chronos relies on, rule by rule from the upstream code, tests and
docs (``telefonicaid/fiware-sth-comet``, ``fiware-orion``, ``iotagent-node-lib``,
``orchestracities/ngsi-timeseries-api``, ``telefonicaid/fiware-cygnus``; each module names the files it
follows). Tests, benchmarks and ``make run`` talk to it over HTTP.

Each service is a Starlette app built by ``create_app(config, store)`` in its own package
(``fake_sth``, ``fake_orion``, ``fake_iota``, ``fake_ql``, ``fake_cygnus``, the last one writing into
an STH-Comet store), split into modules by concern; ``server`` runs apps on real ports, in threads or as
``python -m fiware.sandbox``.
"""
