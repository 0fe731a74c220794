// The shapes a rate limit is described and answered in. The limiter (ratelimits/) gives the
// answers, the gate (auth/) asks for them, and the HTTP door writes them into headers.

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export type RatePolicy = { perSecond: number; burst: number };

/** What one request learns from its bucket; the numbers are those of the RateLimit-* headers. */
export type RateDecision = {
  allowed: boolean;
  /** The bucket's size. */
  limit: number;
  /** Requests left right after this one. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused, the seconds until one request fits; 0 when allowed. */
  retryAfterSeconds: number;
};

/** One request taken from a bucket. `early`: it may go on before the database answers, while its bucket has budget to spare. */
export type RateTake = { bucket: string; policy: RatePolicy; early?: boolean };

/** Takes requests from shared buckets. */
export type RateLimiter = { take(take: RateTake): Promise<RateDecision> };
