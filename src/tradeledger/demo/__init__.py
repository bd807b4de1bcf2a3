"""``tradeledger demo``: a simulated exchange, a simple strategy and a session that crashes.

* :mod:`tradeledger.demo.exchange` - the simulated exchange (state in a JSON file).
* :mod:`tradeledger.demo.bot` - the strategy / bot loop (orders through order intents).
* :mod:`tradeledger.demo.session` - the bot as a child process
  (``python -m tradeledger.demo.session``).
* :mod:`tradeledger.demo.runner` - the whole demo: run, SIGKILL, recover, reconcile, finish,
  analyse.
"""
