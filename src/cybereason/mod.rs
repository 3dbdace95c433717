//! Cybereason EDR REST client and API types.
