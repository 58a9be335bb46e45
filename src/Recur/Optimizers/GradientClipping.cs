using System.Numerics.Tensors;
using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// Gradient clipping applied between backward and <see cref="Optimizer.Step"/>. Both methods return the global L2
/// norm of all gradients before clipping (√Σ g², summed in double in parameter order), the number worth logging to
/// spot exploding gradients. Parameters without a gradient are ignored.
/// </summary>
public static class GradientClipping
{
    /// <summary>Added to the norm in the scale factor, as torch.nn.utils.clip_grad_norm_ does.</summary>
    public const double NormEpsilon = 1e-6;

    /// <summary>
    /// If the global norm exceeds <paramref name="maxNorm"/>, scales every gradient by maxNorm/(norm + 1e-6), so the
    /// clipped norm is maxNorm (to within that epsilon) and the direction is kept. A non-finite norm is returned
    /// as is and no gradient is changed, so the caller can skip the step.
    /// </summary>
    /// <returns>The global norm before clipping.</returns>
    public static double ClipByGlobalNorm(IReadOnlyList<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        HyperParameter.NonNegative(maxNorm, nameof(maxNorm));
        double norm = GlobalNorm(parameters);
        if (!double.IsFinite(norm) || norm <= maxNorm) return norm;
        float scale = (float)(maxNorm / (norm + NormEpsilon));
        foreach (Parameter p in parameters)
            if (p.HasGrad) TensorPrimitives.Multiply(p.Grad.Data, scale, p.Grad.Data);
        return norm;
    }

    /// <summary>Clamps every gradient element to [−clipValue, clipValue] (NaN stays NaN).</summary>
    /// <returns>The global norm before clipping.</returns>
    public static double ClipByValue(IReadOnlyList<Parameter> parameters, double clipValue)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        HyperParameter.NonNegative(clipValue, nameof(clipValue));
        double norm = GlobalNorm(parameters);
        float hi = (float)clipValue, lo = -hi;
        foreach (Parameter p in parameters)
        {
            if (!p.HasGrad) continue;
            Span<float> g = p.Grad.Data;
            for (int i = 0; i < g.Length; i++)
            {
                if (g[i] > hi) g[i] = hi;
                else if (g[i] < lo) g[i] = lo;
            }
        }
        return norm;
    }

    /// <summary>√(Σ over all gradients of g²), accumulated in double in a fixed order.</summary>
    public static double GlobalNorm(IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double sum = 0;
        foreach (Parameter p in parameters)
        {
            if (!p.HasGrad) continue;
            foreach (float x in p.Grad.Data) sum += (double)x * x;
        }
        return Math.Sqrt(sum);
    }
}
