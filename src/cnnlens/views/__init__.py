"""The artifacts as the report's figures and notebooks view them: the tables, selections and arrays computed from
loaded files, one module per section's data (runs, feature_maps, attention, depth, faithfulness) and two that several
share (order, images).

Named views because that is what it holds: views of stored results, shaped for a figure, a caption or a table. It
sits below plots and reporting and imports neither, so figures and notebooks take their numbers from one tested place.
"""
