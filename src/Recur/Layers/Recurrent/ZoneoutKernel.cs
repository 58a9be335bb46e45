using System.Numerics;
using System.Runtime.InteropServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Zoneout's per-step arithmetic (Krueger et al. 2016) over one step's rows of a state, [N] = [B·H] flattened:
/// <code>
/// forward    h_t = ζ ⊙ h_{t−1} + (1 − ζ) ⊙ h̃_t                   (Mix)
/// backward   dh̃_t = (1 − ζ) ⊙ dh_t                               (UpdateGradient)
///            dh_{t−1} += ζ ⊙ dh_t                                 (AddKeptGradient)
/// </code>
/// ζ is the step's mask (0 or 1 per unit) or, with an empty mask, one scalar for every unit (inference: the
/// expectation). float32 runs the SIMD kernels in <see cref="FusedCells"/>; other types the references.
/// </summary>
public static class ZoneoutKernel<T> where T : struct, IFloatingPointIeee754<T>
{
    /// <summary>next = ζ ⊙ prev + (1 − ζ) ⊙ next; next, prev, mask (or empty): [N].</summary>
    public static void Mix(Span<T> next, ReadOnlySpan<T> prev, ReadOnlySpan<T> mask, T scalar)
    {
        if (mask.IsEmpty && scalar == T.Zero) return;
        if (typeof(T) == typeof(float)) FusedCells.ZoneoutMix(GemmIsa.Auto, F(next), F(prev), F(mask), float.CreateTruncating(scalar));
        else MixReference(next, prev, mask, scalar);
    }

    /// <summary>The plain <see cref="Mix"/> the float32 kernel is held to.</summary>
    public static void MixReference(Span<T> next, ReadOnlySpan<T> prev, ReadOnlySpan<T> mask, T scalar)
    {
        for (int i = 0; i < next.Length; i++)
        {
            T z = mask.IsEmpty ? scalar : mask[i];
            next[i] = z * prev[i] + (T.One - z) * next[i];
        }
    }

    /// <summary>into = (1 − ζ) ⊙ d; d, mask (or empty), into: [N].</summary>
    public static void UpdateGradient(ReadOnlySpan<T> d, ReadOnlySpan<T> mask, T scalar, Span<T> into)
    {
        if (typeof(T) == typeof(float)) FusedCells.ZoneoutUpdateGradient(GemmIsa.Auto, F(d), F(mask), float.CreateTruncating(scalar), F(into));
        else UpdateGradientReference(d, mask, scalar, into);
    }

    /// <summary>The plain <see cref="UpdateGradient"/> the float32 kernel is held to.</summary>
    public static void UpdateGradientReference(ReadOnlySpan<T> d, ReadOnlySpan<T> mask, T scalar, Span<T> into)
    {
        for (int i = 0; i < d.Length; i++) into[i] = (T.One - (mask.IsEmpty ? scalar : mask[i])) * d[i];
    }

    /// <summary>into += ζ ⊙ d; d, mask (or empty), into: [N].</summary>
    public static void AddKeptGradient(ReadOnlySpan<T> d, ReadOnlySpan<T> mask, T scalar, Span<T> into)
    {
        if (mask.IsEmpty && scalar == T.Zero) return;
        if (typeof(T) == typeof(float)) FusedCells.ZoneoutAddKeptGradient(GemmIsa.Auto, F(d), F(mask), float.CreateTruncating(scalar), F(into));
        else AddKeptGradientReference(d, mask, scalar, into);
    }

    /// <summary>The plain <see cref="AddKeptGradient"/> the float32 kernel is held to.</summary>
    public static void AddKeptGradientReference(ReadOnlySpan<T> d, ReadOnlySpan<T> mask, T scalar, Span<T> into)
    {
        for (int i = 0; i < d.Length; i++) into[i] += (mask.IsEmpty ? scalar : mask[i]) * d[i];
    }

    private static Span<float> F(Span<T> s) => MemoryMarshal.Cast<T, float>(s);
    private static ReadOnlySpan<float> F(ReadOnlySpan<T> s) => MemoryMarshal.Cast<T, float>(s);
}
