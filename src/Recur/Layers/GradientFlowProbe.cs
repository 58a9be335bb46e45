namespace Recur.Layers;

/// <summary>
/// Instrumentation a recurrent module fills while attached (<see cref="IRecurrentLayer.Probe"/>): how much of the
/// loss gradient reaches each time step of each layer, and how many gates sit in their flat, saturated range.
/// Values describe the most recent forward and backward pass.
/// </summary>
public sealed class GradientFlowProbe
{
    /// <summary>‖dL/dh_t‖ over the batch for each layer l and step t: [L][T] (t = 0 is the first step).</summary>
    public double[][] StepGradientNorms { get; internal set; } = [];

    /// <summary>Fraction of saturated gate activations per layer: [L].</summary>
    public double[] SaturatedFraction { get; internal set; } = [];
}
