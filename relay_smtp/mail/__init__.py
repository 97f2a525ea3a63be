"""Message-level work: MIME walk and splice, classification, block rendering, DKIM."""
