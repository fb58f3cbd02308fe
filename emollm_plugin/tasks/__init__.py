"""The EmoBench task vocabulary: labels, lexicon, question templates, the record schema and the answer
parser. The dataset builder (``bench/``), EmoPrompt, the scorer and the apps all speak it."""
