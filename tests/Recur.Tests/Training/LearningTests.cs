namespace Recur.Tests.Training;

/// <summary>The engine learns: the README's training loop fits a sine forecaster and a token classifier.</summary>
public class LearningTests
{
    [Fact]
    public void LstmForecasterLearnsTheSine()
    {
        var (losses, _) = TinyTraining.Forecaster(seed: 1, updates: 150);
        double start = losses.Take(5).Average(), end = losses.TakeLast(10).Average();
        Assert.True(end < start / 20, $"MSE went from {start:F4} to {end:F4}; expected a 20-fold drop");
    }

    [Fact]
    public void GruClassifierLearnsTheRule()
    {
        var (losses, _) = TinyTraining.Classifier(seed: 2, updates: 120);
        Assert.True(losses.Take(5).Average() > 0.9, "an untrained 3-class classifier should start near ln 3");
        Assert.True(losses.TakeLast(10).Average() < 0.1, $"cross-entropy ended at {losses.TakeLast(10).Average():F3}");
    }
}
