using Recur.Training;
using System.Globalization;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Schedules;

/// <summary>
/// A learning-rate schedule: before every batch the optimizer's rate becomes
/// <see cref="TrainingContext.BaseLearningRate"/> × <see cref="Factor"/>(step). Steps count batches from 0.
/// </summary>
public abstract class LearningRateSchedule : TrainingCallback
{
    /// <summary>Multiplier of the base rate at global step <paramref name="step"/> of <paramref name="totalSteps"/>, in 1-based <paramref name="epoch"/>.</summary>
    public abstract double Factor(long step, long totalSteps, int epoch);

    public override void OnBatchBegin(TrainingContext context) =>
        context.Optimizer.LearningRate = context.BaseLearningRate * Factor(context.GlobalStep, context.TotalSteps, context.Epoch);

    /// <summary>Parses a schedule name as on the command line: constant, step, exponential, cosine, onecycle, plateau.</summary>
    public static TrainingCallback? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "constant" or "none" => null,
        "step" => new StepDecay(everyEpochs: 10, gamma: 0.5),
        "exponential" => new ExponentialDecay(gammaPerEpoch: 0.95),
        "cosine" => new CosineWithWarmup(warmupFraction: 0.05),
        "onecycle" => new OneCycle(),
        "plateau" => new ReduceOnPlateau(),
        _ => throw new InvalidInputException($"--lr-schedule: expected constant, step, exponential, cosine, onecycle or plateau; found '{name}'."),
    };
}

/// <summary>Multiply the rate by <c>gamma</c> every <c>everyEpochs</c> epochs (PyTorch StepLR).</summary>
public sealed class StepDecay(int everyEpochs, double gamma) : LearningRateSchedule
{
    public override double Factor(long step, long totalSteps, int epoch) =>
        Math.Pow(gamma, (epoch - 1) / Math.Max(1, everyEpochs));
}

/// <summary>Multiply the rate by <c>gammaPerEpoch</c> after every epoch (PyTorch ExponentialLR).</summary>
public sealed class ExponentialDecay(double gammaPerEpoch) : LearningRateSchedule
{
    public override double Factor(long step, long totalSteps, int epoch) => Math.Pow(gammaPerEpoch, epoch - 1);
}

/// <summary>Linear warm-up over the first fraction of steps, then half a cosine down to <c>minFactor</c>.</summary>
public sealed class CosineWithWarmup(double warmupFraction, double minFactor = 0) : LearningRateSchedule
{
    public override double Factor(long step, long totalSteps, int epoch)
    {
        long warmup = (long)Math.Round(warmupFraction * totalSteps);
        if (step < warmup) return (step + 1.0) / warmup;
        double progress = totalSteps > warmup ? (double)(step - warmup) / (totalSteps - warmup) : 1;
        return minFactor + (1 - minFactor) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(progress, 1)));
    }
}

/// <summary>
/// One-cycle (Smith; PyTorch OneCycleLR with cosine annealing): from base/<c>divFactor</c> up to the base rate over
/// <c>pctStart</c> of the steps, then down to base/(<c>divFactor</c>·<c>finalDivFactor</c>).
/// </summary>
public sealed class OneCycle(double pctStart = 0.3, double divFactor = 25, double finalDivFactor = 1e4) : LearningRateSchedule
{
    public override double Factor(long step, long totalSteps, int epoch)
    {
        double peak = pctStart * totalSteps - 1;
        double start = 1 / divFactor, end = start / finalDivFactor;
        static double Anneal(double from, double to, double pct) => to + (from - to) / 2 * (1 + Math.Cos(Math.PI * pct));
        return step <= peak
            ? Anneal(start, 1, peak > 0 ? step / peak : 1)
            : Anneal(1, end, Math.Min(1, (step - peak) / Math.Max(1, totalSteps - 1 - peak)));
    }
}

/// <summary>
/// Cut the base rate by <c>factor</c> when the validation loss has not improved by a relative <c>threshold</c> for
/// <c>patience</c> epochs (PyTorch ReduceLROnPlateau, mode min, threshold_mode rel).
/// </summary>
public sealed class ReduceOnPlateau(double factor = 0.5, int patience = 5, double threshold = 1e-4, double minLearningRate = 1e-6) : TrainingCallback, ICheckpointable
{
    private double _best = double.PositiveInfinity;
    private int _bad;

    public override void OnTrainBegin(TrainingContext context) => (_best, _bad) = (double.PositiveInfinity, 0);

    public override void OnEpochEnd(TrainingContext context, EpochRecord epoch)
    {
        if (epoch.ValidationLoss < _best * (1 - threshold))
        {
            (_best, _bad) = (epoch.ValidationLoss, 0);
        }
        else if (++_bad > patience)
        {
            // As PyTorch: never raise the rate, even when it is already under the floor.
            double reduced = Math.Max(context.BaseLearningRate * factor, minLearningRate);
            if (reduced < context.BaseLearningRate)
            {
                context.Log.WriteLine($"reduce-on-plateau: learning rate {context.BaseLearningRate:G3} → {reduced:G3}");
                context.BaseLearningRate = reduced;
            }
            _bad = 0;
        }
    }

    public void SaveState(CheckpointData data, string prefix)
    {
        data.Values[prefix + "best"] = _best.ToString("R", CultureInfo.InvariantCulture);
        data.Values[prefix + "bad"] = _bad.ToString(CultureInfo.InvariantCulture);
    }

    public void LoadState(CheckpointData data, string prefix)
    {
        _best = double.Parse(data.Value(prefix + "best"), CultureInfo.InvariantCulture);
        _bad = int.Parse(data.Value(prefix + "bad"), CultureInfo.InvariantCulture);
    }
}
