using Recur.Training.Callbacks;

namespace Recur.Training;

/// <summary>How <see cref="Trainer"/> fits a model. Defaults suit small recurrent models.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// Variable-length data: group sequences of similar length into batches (sorted within shuffled pools of
    /// <see cref="BatchPlan.PoolBatches"/> batches, the batches then shuffled), so little compute goes to padding.
    /// </summary>
    public bool BucketByLength { get; init; } = true;

    /// <summary>Cap on padded steps per batch (sequences × longest length); 0 for none. A longer sequence trains alone.</summary>
    public int MaxTokensPerBatch { get; init; }
    public double LearningRate { get; init; } = 3e-3;

    /// <summary>sgd, adam, adamw, rmsprop or nadam.</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>
    /// Weight decay λ (<c>--weight-decay</c>), applied by the trainer for any optimizer as <see cref="WeightDecayMode"/>
    /// says; null leaves each optimizer's own default (AdamW's 0.01, none for the others).
    /// </summary>
    public double? WeightDecay { get; init; }

    /// <summary><c>l2</c> or <c>decoupled</c> (<c>--decay</c>); null: decoupled for adamw, L2 otherwise.</summary>
    public string? WeightDecayMode { get; init; }

    /// <summary>Max-norm constraint c on every weight row after each step (<c>--max-norm</c>); 0 for none.</summary>
    public double MaxNorm { get; init; }

    /// <summary>Global gradient-norm limit; 0 turns clipping off.</summary>
    public double Clip { get; init; } = 1.0;

    public ulong Seed { get; init; } = 42;

    /// <summary>Wall-clock budget in seconds; training stops after the epoch that crosses it. 0 for none.</summary>
    public double TimeLimitSeconds { get; init; }

    /// <summary>Early stopping, schedules, progress and custom hooks, run in this order.</summary>
    public IReadOnlyList<TrainingCallback> Callbacks { get; init; } = [];

    /// <summary>Data augmentation of training batches (never validation or test); null: none.</summary>
    public Augmentations.AugmentationPipeline? Augmentation { get; init; }

    /// <summary>Curriculum learning (length or self-paced); null trains on the full task from the start.</summary>
    public Curriculum? Curriculum { get; init; }

    /// <summary>Numerical guard: consecutive non-finite steps after which the last good state is restored.</summary>
    public int MaxConsecutiveBadSteps { get; init; } = 5;

    /// <summary>Numerical guard: rollbacks after which training stops as diverged.</summary>
    public int MaxRollbacks { get; init; } = 3;

    /// <summary>
    /// Where checkpoints go. When it already holds one, training resumes from it (or, if that training completed,
    /// returns its final state). Null: no checkpoints.
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Values written into every checkpoint as they are (e.g. the command that started the run).</summary>
    public IReadOnlyDictionary<string, string> CheckpointNotes { get; init; } = new Dictionary<string, string>();

    /// <summary>Also checkpoint every this many batches within an epoch (0: only at epoch ends).</summary>
    public int CheckpointEveryBatches { get; init; }

    /// <summary>
    /// Stateful truncated back-propagation through time. The training set must be streams
    /// (<see cref="SequenceDataset.Streams"/>): batch i is window i of every stream, the windows come in order
    /// (never shuffled; <see cref="BatchSize"/>, bucketing and curricula do not apply), and each batch starts from the
    /// previous batch's final recurrent state, detached (no gradient crosses a window boundary). The state resets
    /// to zeros at every epoch start (and after a numerical-guard rollback or a non-finite state); it is saved in
    /// checkpoints. Validation data laid out as streams is scored statefully too.
    /// </summary>
    public bool Stateful { get; init; }

    /// <summary>Numerical guard: the learning rate is multiplied by this at every rollback.</summary>
    public double RollbackLearningRateFactor { get; init; } = 0.5;

    /// <summary>
    /// Encoder–decoder models: the probability of feeding the decoder the true previous value in epoch 1; scheduled
    /// sampling lowers it linearly to 0 in the last epoch (<see cref="SamplingProbability"/>).
    /// </summary>
    public double TeacherForcing { get; init; } = 1;

    /// <summary>The probability of feeding the decoder its own previous prediction in 1-based <paramref name="epoch"/>: 1 − P0·(E − e)/(E − 1).</summary>
    public double SamplingProbability(int epoch) => Epochs <= 1 ? 1 - TeacherForcing : 1 - TeacherForcing * (Epochs - epoch) / (double)(Epochs - 1);

    /// <summary>
    /// Freezing, gradual unfreezing and discriminative learning rates (fine-tuning after <c>--init-from</c>): the
    /// optimizer becomes a <see cref="Optimizers.ParameterGroupOptimizer"/>. Use <see cref="Training.FineTuning.Configure"/>,
    /// which also adds the callback that switches groups by epoch. Null: every parameter trains at the base rate.
    /// </summary>
    public FineTuning? FineTuning { get; init; }
}
