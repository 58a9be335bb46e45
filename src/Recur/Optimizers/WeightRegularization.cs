using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>How weight decay reaches the weights.</summary>
public enum WeightDecayMode
{
    /// <summary>L2 penalty: λ·θ added to the gradient before the optimizer step (torch.optim's <c>weight_decay</c>, Adam's).</summary>
    L2,

    /// <summary>Decoupled decay (Loshchilov &amp; Hutter): θ ← θ·(1 − γ·λ) before the step, the gradient untouched (AdamW's rule, for any optimizer).</summary>
    Decoupled,
}

/// <summary>
/// Weight decay and a max-norm constraint around any <see cref="Optimizer"/>'s step, so every optimizer gets both
/// kinds of decay: call <see cref="BeforeStep"/> after clipping and before <see cref="Optimizer.Step"/>, and
/// <see cref="AfterStep(Optimizer)"/> after it. Decay applies to every parameter that has a gradient (as torch.optim's
/// <c>weight_decay</c>); the max-norm constraint to every weight matrix (rank-2 parameter: W_ih, W_hh, the head's
/// and the embedding's weights), row by row — each unit's incoming weights, or each token's vector — never to
/// biases or layer-norm gains.
/// </summary>
public sealed class WeightRegularization
{
    /// <param name="weightDecay">λ ≥ 0.</param>
    /// <param name="mode">L2 or decoupled.</param>
    /// <param name="maxNorm">c &gt; 0 caps every weight row's Euclidean norm at c; 0: no constraint.</param>
    public WeightRegularization(double weightDecay, WeightDecayMode mode, double maxNorm = 0)
    {
        WeightDecay = HyperParameter.NonNegative(weightDecay, nameof(weightDecay));
        MaxNorm = HyperParameter.NonNegative(maxNorm, nameof(maxNorm));
        Mode = mode;
    }

    public double WeightDecay { get; }
    public WeightDecayMode Mode { get; }
    public double MaxNorm { get; }

    /// <summary>The default mode for an optimizer: decoupled for adamw, L2 for the others.</summary>
    public static WeightDecayMode DefaultMode(string optimizer) =>
        optimizer.Trim().Equals("adamw", StringComparison.OrdinalIgnoreCase) ? WeightDecayMode.Decoupled : WeightDecayMode.L2;

    /// <summary>Parses <c>l2</c> or <c>decoupled</c> (any case); null gives the optimizer's default.</summary>
    public static WeightDecayMode ParseMode(string? text, string optimizer) => text?.Trim().ToLowerInvariant() switch
    {
        null => DefaultMode(optimizer),
        "l2" => WeightDecayMode.L2,
        "decoupled" => WeightDecayMode.Decoupled,
        _ => throw new InvalidInputException($"--decay: expected l2 or decoupled; found '{text}'."),
    };

    /// <summary>Applies the decay for the optimizer's current learning rate.</summary>
    public void BeforeStep(Optimizer optimizer)
    {
        if (WeightDecay == 0) return;
        if (optimizer is ParameterGroupOptimizer groups)
        {
            // Fine-tuning: frozen groups are left alone, and decoupled decay follows each group's own rate.
            for (int g = 0; g < groups.GroupCount; g++)
                if (groups.IsActive(g)) Decay(groups.GroupParameters(g), groups.LearningRate * groups.Factor(g));
            return;
        }
        Decay(optimizer.Parameters, optimizer.LearningRate);
    }

    private void Decay(IReadOnlyList<Parameter> parameters, double learningRate)
    {
        if (Mode == WeightDecayMode.L2) AddL2(parameters, WeightDecay);
        else DecayDecoupled(parameters, learningRate, WeightDecay);
    }

    /// <summary>Applies the max-norm constraint (nothing when <see cref="MaxNorm"/> is 0).</summary>
    public void AfterStep(IReadOnlyList<Parameter> parameters)
    {
        if (MaxNorm > 0) CapRowNorms(parameters, MaxNorm);
    }

    /// <summary>Applies the max-norm constraint to what <paramref name="optimizer"/> trains (frozen groups excepted).</summary>
    public void AfterStep(Optimizer optimizer)
    {
        if (MaxNorm == 0) return;
        if (optimizer is not ParameterGroupOptimizer groups) { AfterStep(optimizer.Parameters); return; }
        for (int g = 0; g < groups.GroupCount; g++)
            if (groups.IsActive(g)) AfterStep(groups.GroupParameters(g));
    }

    /// <summary>∇θ ← ∇θ + λ·θ for every parameter with a gradient.</summary>
    public static void AddL2(IReadOnlyList<Parameter> parameters, double weightDecay)
    {
        float wd = (float)weightDecay;
        foreach (var p in parameters)
        {
            if (!p.HasGrad) continue;
            var value = p.Value.Data;
            var grad = p.Grad.Data;
            for (int i = 0; i < grad.Length; i++) grad[i] = grad[i] + wd * value[i];
        }
    }

    /// <summary>θ ← θ·(1 − γ·λ) for every parameter with a gradient, the factor computed in double as AdamW does.</summary>
    public static void DecayDecoupled(IReadOnlyList<Parameter> parameters, double learningRate, double weightDecay)
    {
        float factor = (float)(1 - learningRate * weightDecay);
        foreach (var p in parameters)
        {
            if (!p.HasGrad) continue;
            var value = p.Value.Data;
            for (int i = 0; i < value.Length; i++) value[i] *= factor;
        }
    }

    /// <summary>Rescales every row of every rank-2 parameter whose Euclidean norm exceeds c to norm c.</summary>
    public static void CapRowNorms(IReadOnlyList<Parameter> parameters, double maxNorm)
    {
        foreach (var p in parameters)
        {
            if (p.Value.Rank != 2) continue;
            int rows = p.Value.Dim(0), columns = p.Value.Dim(1);
            for (int r = 0; r < rows; r++)
            {
                var row = p.Value.Data.AsSpan(r * columns, columns);
                double sum = 0;
                foreach (float v in row) sum += (double)v * v;
                double norm = Math.Sqrt(sum);
                if (norm <= maxNorm) continue;
                float scale = (float)(maxNorm / norm);
                for (int i = 0; i < row.Length; i++) row[i] *= scale;
            }
        }
    }

    public override string ToString() =>
        $"weight decay {WeightDecay:G4} ({(Mode == WeightDecayMode.L2 ? "L2" : "decoupled")}){(MaxNorm > 0 ? $", max-norm {MaxNorm:G4}" : "")}";
}
