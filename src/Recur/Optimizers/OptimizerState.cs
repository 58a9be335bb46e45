namespace Recur.Optimizers;

/// <summary>
/// Everything an optimizer needs to continue exactly where it stopped: the algorithm name, the step count, scalar
/// state (always <c>lr</c>; e.g. Nadam's <c>mu_product</c>) and every per-parameter buffer, keyed
/// <c>&lt;parameter name&gt;.&lt;slot&gt;</c> with PyTorch's slot names (<c>exp_avg</c>, <c>exp_avg_sq</c>,
/// <c>max_exp_avg_sq</c>, <c>momentum_buffer</c>, <c>square_avg</c>, <c>grad_avg</c>).
/// Hyperparameters other than the learning rate are configuration and are not part of the state.
/// </summary>
public sealed record OptimizerState(
    string Algorithm,
    long StepCount,
    IReadOnlyDictionary<string, double> Scalars,
    IReadOnlyDictionary<string, float[]> Buffers);
