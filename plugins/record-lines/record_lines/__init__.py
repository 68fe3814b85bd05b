"""Hand a Singer loader that reads RECORD lines only the records of BATCH messages.

`record_lines.expand` turns a message stream with BATCH messages into one with RECORD
lines (each batch file removed once its records are passed on, which is how the tap
knows the batch was taken); `record_lines.cli` runs the loader behind it.
"""
