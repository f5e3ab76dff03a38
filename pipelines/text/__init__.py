"""Text data for the RNN searches: a PTB-format reader, a real English corpus that ships with Python, and
`sources.load_text` to pick one by name."""
