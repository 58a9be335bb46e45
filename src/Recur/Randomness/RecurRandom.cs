namespace Recur.Randomness;

/// <summary>
/// Seeded xoshiro256** generator: the same seed gives the same stream on every machine and .NET version (unlike
/// <see cref="System.Random"/>, whose algorithm is an implementation detail). Its state can be saved and restored.
/// </summary>
public sealed class RecurRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    public RecurRandom(ulong seed)
    {
        // SplitMix64 spreads any seed (including 0) over the full state, as the xoshiro authors recommend.
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform in [low, high).</summary>
    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [0, bound), without modulo bias.</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        ulong limit = ulong.MaxValue - ulong.MaxValue % (ulong)bound;
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return (int)(r % (ulong)bound);
    }

    /// <summary>Standard normal by the Box–Muller transform (pairs are cached).</summary>
    public double Normal()
    {
        if (_spareNormal is double spare)
        {
            _spareNormal = null;
            return spare;
        }
        double u1 = 1.0 - NextDouble(); // (0, 1] so the log is finite
        double u2 = NextDouble();
        double radius = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = radius * Math.Sin(2 * Math.PI * u2);
        return radius * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>A snapshot of the generator that <see cref="Restore"/> returns to exactly.</summary>
    public RandomState Save() => new(_s0, _s1, _s2, _s3, _spareNormal);

    public void Restore(RandomState state)
    {
        (_s0, _s1, _s2, _s3, _spareNormal) = (state.S0, state.S1, state.S2, state.S3, state.SpareNormal);
    }
}

/// <summary>The full state of a <see cref="RecurRandom"/>.</summary>
public readonly record struct RandomState(ulong S0, ulong S1, ulong S2, ulong S3, double? SpareNormal);
