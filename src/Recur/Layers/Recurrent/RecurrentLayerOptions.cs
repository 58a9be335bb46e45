using System.Numerics;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Regularisation of one layer's forward pass, applied inside <see cref="RecurrentLayerKernel{T, TCell}"/>'s time
/// loop (no per-step allocation); every mask is drawn by the caller, so the kernel is deterministic and runs in double
/// for finite differences. All null / 0: the plain layer, bit-identical to a call without options.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><see cref="InputMask"/> [B, I] — variational input dropout (Gal &amp; Ghahramani 2016): the layer sees
/// x_t ⊙ m at every step t (the same mask at every step), values 0 or 1/(1−p).</item>
/// <item><see cref="RecurrentMask"/> [B, H] — variational recurrent dropout: the recurrent product reads
/// (h_{t−1} ⊙ m)·W_hhᵀ at every step, values 0 or 1/(1−p). The cell's own use of h_{t−1} (GRU's interpolation)
/// and the carried state are not masked.</item>
/// <item><see cref="ZoneoutHidden"/>, <see cref="ZoneoutCell"/> [T, B, H] — zoneout (Krueger et al. 2016): where
/// the value is 1 the unit keeps its previous state, h_t = ζ⊙h_{t−1} + (1−ζ)⊙h̃_t (and likewise c for LSTM), h̃, c̃
/// being the cell's update. Where no mask is given, <see cref="Zoneout"/> is used as ζ for every unit: the
/// expectation used at inference.</item>
/// </list>
/// </remarks>
public sealed class RecurrentLayerOptions<T> where T : struct
{
    /// <summary>Input dropout mask [B, I] (0 or 1/(1−p)), the same at every step; null: none.</summary>
    public T[]? InputMask { get; init; }

    /// <summary>Recurrent dropout mask [B, H] on h_{t−1} entering the recurrent product, the same at every step; null: none.</summary>
    public T[]? RecurrentMask { get; init; }

    /// <summary>Zoneout of h per step [T, B, H]: 1 keeps h_{t−1}, 0 takes the update; null: <see cref="Zoneout"/> everywhere.</summary>
    public T[]? ZoneoutHidden { get; init; }

    /// <summary>Zoneout of c per step [T, B, H] (LSTM); null: <see cref="Zoneout"/> everywhere.</summary>
    public T[]? ZoneoutCell { get; init; }

    /// <summary>ζ used where no zoneout mask is given (inference: the expectation); 0: no zoneout.</summary>
    public double Zoneout { get; init; }

    internal bool HasZoneout => ZoneoutHidden is not null || ZoneoutCell is not null || Zoneout != 0;
}

/// <summary>Mask drawing for <see cref="RecurrentLayerOptions{T}"/>.</summary>
public static class RecurrentLayerOptions
{
    /// <summary>
    /// Draws the masks for one layer while training: input dropout [B, I] with probability
    /// <paramref name="inputDropout"/>, recurrent dropout [B, H], then zoneout masks for h and (with cell state) c
    /// [T, B, H], each element 1 with probability <paramref name="zoneout"/>; in this order, one draw per element,
    /// nothing drawn for a rate of 0.
    /// </summary>
    public static RecurrentLayerOptions<T> Draw<T>(RecurRandom random, int steps, int batch, int input, int hidden, bool hasCellState,
        double inputDropout, double recurrentDropout, double zoneout)
        where T : struct, IFloatingPointIeee754<T>
    {
        T[]? Dropout(double p, int n)
        {
            if (p == 0) return null;
            var mask = Workspace.Allocate<T>(n); // held for the step, as the caches
            DropoutKernel<T>.Mask(p, random, mask);
            return mask;
        }
        T[]? Zone(int n)
        {
            if (zoneout == 0) return null;
            var mask = Workspace.Allocate<T>(n); // held for the step, as the caches
            for (int i = 0; i < n; i++) mask[i] = random.NextDouble() < zoneout ? T.One : T.Zero;
            return mask;
        }
        return new RecurrentLayerOptions<T>
        {
            InputMask = Dropout(inputDropout, batch * input),
            RecurrentMask = Dropout(recurrentDropout, batch * hidden),
            ZoneoutHidden = Zone(steps * batch * hidden),
            ZoneoutCell = hasCellState ? Zone(steps * batch * hidden) : null,
        };
    }
}
