"""creditstream's stream processing: the credit engine, its policy, and the Faust shell around it."""
