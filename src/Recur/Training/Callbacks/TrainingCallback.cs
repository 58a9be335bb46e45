using Recur.Models;
using Recur.Optimizers;

namespace Recur.Training.Callbacks;

/// <summary>
/// The state of a running <see cref="Trainer.Fit"/>, shared with every callback. Callbacks may set
/// <see cref="BaseLearningRate"/> (schedules), request a stop, or inspect and change gradients after backward.
/// </summary>
public sealed class TrainingContext
{
    internal TrainingContext(SequenceModel model, Optimizer optimizer, TrainingOptions options, int batchesPerEpoch, TextWriter log)
    {
        (Model, Optimizer, Options, BatchesPerEpoch, Log) = (model, optimizer, options, batchesPerEpoch, log);
        BaseLearningRate = options.LearningRate;
    }

    public SequenceModel Model { get; }
    public Optimizer Optimizer { get; }
    public TrainingOptions Options { get; }
    public TextWriter Log { get; }

    /// <summary>1-based epoch in progress.</summary>
    public int Epoch { get; internal set; }
    public int Epochs => Options.Epochs;

    /// <summary>0-based batch within the epoch.</summary>
    public int Batch { get; internal set; }
    public int BatchesPerEpoch { get; }

    /// <summary>Batches of the epoch in progress (fewer than <see cref="BatchesPerEpoch"/> under a self-paced curriculum).</summary>
    public int BatchesThisEpoch { get; internal set; }

    /// <summary>Batches run so far over the whole training (0-based index of the current one).</summary>
    public long GlobalStep { get; internal set; }
    /// <summary>Batches the whole training runs (fewer than Epochs × BatchesPerEpoch under a self-paced curriculum).</summary>
    public long TotalSteps { get; internal init; }

    /// <summary>
    /// The learning rate before per-step schedule factors: starts at <see cref="TrainingOptions.LearningRate"/>;
    /// reduce-on-plateau and the numerical guard's rollbacks lower it.
    /// </summary>
    public double BaseLearningRate { get; set; }

    public List<EpochRecord> History { get; } = [];

    /// <summary>
    /// Stateful training: the recurrent state the batch in progress starts from (the previous batch's final state,
    /// detached); null for zeros (the first batch of an epoch) and in non-stateful training.
    /// </summary>
    public RecurrentState? CarriedState { get; internal set; }

    public bool StopRequested { get; private set; }
    public string? StopReason { get; private set; }

    /// <summary>Ends training after the current epoch, giving the reason shown to the user.</summary>
    public void RequestStop(string reason)
    {
        if (StopRequested) return;
        StopRequested = true;
        StopReason = reason;
    }
}

/// <summary>One training batch as the loop saw it.</summary>
/// <param name="Loss">The batch's mean loss (may be non-finite).</param>
/// <param name="GradientNorm">Global gradient norm before clipping (may be non-finite).</param>
/// <param name="Skipped">Whether the numerical guard kept this batch's update away from the weights.</param>
/// <param name="Sequences">Sequences in the batch.</param>
public sealed record BatchRecord(double Loss, double GradientNorm, bool Skipped, int Sequences);

/// <summary>
/// Hooks into <see cref="Trainer.Fit"/>, Keras-style; override the events you need. Callbacks run in the order
/// given. Built in: <see cref="EarlyStopping"/>, the learning-rate schedules in <c>Recur.Schedules</c>.
/// </summary>
public abstract class TrainingCallback
{
    public virtual void OnTrainBegin(TrainingContext context) { }
    public virtual void OnEpochBegin(TrainingContext context) { }
    public virtual void OnBatchBegin(TrainingContext context) { }

    /// <summary>After backward, before the guard, clipping and the update: gradients are in the parameters.</summary>
    public virtual void OnAfterBackward(TrainingContext context, double loss) { }

    public virtual void OnBatchEnd(TrainingContext context, BatchRecord batch) { }
    public virtual void OnEpochEnd(TrainingContext context, EpochRecord epoch) { }
    public virtual void OnTrainEnd(TrainingContext context) { }
}
