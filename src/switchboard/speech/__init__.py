"""Speech-to-text: the `Transcriber` seam and its engines (stt.py).

Not to be confused with bxml/speech.py, Bandwidth's voices for SpeakSentence (text-to-speech).
Nothing heavy is imported here: the PocketSphinx engine loads only when stt.py's
`PocketSphinxTranscriber` is built.
"""
