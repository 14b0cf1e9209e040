"""mr_vae"""
