// calculator
