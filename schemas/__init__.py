"""creditstream's event contracts: input events, output events, the topic catalogue, the codec."""
