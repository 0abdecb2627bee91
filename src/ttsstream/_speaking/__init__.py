"""The parts of :class:`~ttsstream.Speaker`, one job each: the utterance records, the queue that
fetches ahead, the player that writes audio into the sink, and the ledger of what was heard."""
